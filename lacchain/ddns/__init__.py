"""Dynamic DNS for LACChain nodes: the signed update message and its verification (pure, no cloud SDK)."""
