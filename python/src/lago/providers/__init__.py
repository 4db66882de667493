"""Providers (Lago's layout); the engine behind them is lago-core."""
