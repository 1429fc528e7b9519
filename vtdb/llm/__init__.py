"""Model transports shared by analyzers and summarizers: an OpenAI-compatible HTTP client, an in-process vLLM engine."""
