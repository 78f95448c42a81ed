"""The `replicate` generation backend: real models on Replicate through the official client.

Modules, each with one job: `client` (the client behind our retries and limits),
`transport` (delivery host, per-request metrics, raw error answers), `retries` (when and how
long), `limiter` (account-wide rate), `checkpoints` (prediction ids in a key-value bucket),
`predictions` (one prediction to a usable result), `inbox` (the webhook fast path),
`outputs` (download and check), `script` (prompts, parse, repair, normalise), `models`
(inputs per model), `costs` (charges from what the provider reported), `backend`.
"""
