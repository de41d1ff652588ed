"""Streamlit-free logic behind the explorer's pages (views.py is the one module that draws)."""
