"""Raw streams of the Engine API: hijacked connections and stdcopy framing."""
