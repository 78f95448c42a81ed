"""The design system: one module for storyboard frames and video alike.

    brief.py        what a brief claims (product, pain, claims, proof, offer, CTA)
    platforms.py    each platform's size and safe zone (data: platforms.toml)
    styles.py       the three looks: bold, clean, social
    typography.py   faces, fitting, line groups, emphasised words
    layout.py       where headline, product, captions, logo and CTA go in a scene
    layers.py       text, button and logo layers as RGBA images with their places
    plate.py        a scene's picture without text: background + product hero
    frame.py        a storyboard frame: the plate with the scene's layers settled

Every function is pure and deterministic (same inputs → same pixels), so the storyboard
service and the renderer draw the same design and tests drive it directly.
"""
