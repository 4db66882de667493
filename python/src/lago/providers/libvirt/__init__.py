"""libvirt provider names (Lago's layout); libvirt runs in lago-core."""
