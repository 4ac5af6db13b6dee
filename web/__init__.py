"""The aiohttp side: webhook ingestor, order API and the live dashboard."""
