"""TokenTRA's Python SDK: record the usage of your OpenAI / Anthropic / LiteLLM calls, in the background.

    import openai, tokentra_sdk
    client = tokentra_sdk.wrap(openai.OpenAI(), api_key="tt_live_…", base_url="https://tokentra.example",
                               team="search", feature="answers")
    with tokentra_sdk.attributes(user_id="u-42"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])

LiteLLM users: `litellm.callbacks = [tokentra_sdk.litellm.TokenTRACallback(api_key=…, base_url=…)]`.
Nothing here ever slows or breaks your calls: events go through a bounded queue to a daemon thread; when
TokenTRA is down they are dropped and counted (`client.tokentra_recorder.stats`).
"""

from tokentra_sdk.events import attributes
from tokentra_sdk.recorder import SDK_VERSION, Recorder, Stats
from tokentra_sdk.wrap import wrap

__version__ = SDK_VERSION
__all__ = ["Recorder", "Stats", "__version__", "attributes", "wrap"]
