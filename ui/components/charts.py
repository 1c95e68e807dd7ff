"""How every page hands a Plotly figure to Streamlit: ``st.plotly_chart(fig, key=..., **CHART)``."""

CHART = {"config": {"displayModeBar": False}}  # no mode bar: the figures are read, not edited or exported
