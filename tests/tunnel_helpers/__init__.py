"""Helpers for the expose()/show() tests: a stand-in ngrok agent and small child scripts."""
