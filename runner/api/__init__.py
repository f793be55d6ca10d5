"""The API client over httpx: requests, response reading, pacing, network, hosts."""
