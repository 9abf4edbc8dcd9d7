"""Streamlit-only helpers. Pages import these and al_core; al_core never imports them."""
