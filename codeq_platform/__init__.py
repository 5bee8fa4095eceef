"""codeQ Platform: a durable, multitenant task queue served as a SaaS control plane."""
