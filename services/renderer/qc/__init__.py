"""QC of a rendered file: what a platform and a viewer would find, measured on the file.

    check.py      check_video(path, platform, layout): the report and its thumbnails
    container.py  facts read without decoding (codec, profile, level, `moov` before `mdat`)
    decoding.py   one decoding pass: black, still and stopped stretches, the first frame,
                  the pixels behind each text box, the sound
    sound.py      loudness, true peak and where it is over the ceiling (BS.1770)
    text.py       text boxes against the safe zone and the pixels behind them (also used
                  by the tests' viewer)
    rules.py      the limits, and findings from the measurements

Imports nothing here, so `text.py` can be used without the decoder and the engine.
"""
