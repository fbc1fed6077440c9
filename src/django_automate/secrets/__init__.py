"""SecretRefs (``$secret:NAME``), resolved only at the moment of use."""
