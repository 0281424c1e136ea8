"""The project's plugins: install codecs here with `enb plugin install NAME plugins/NAME`, and
import them below so that `import plugins` in the experiment brings them in."""
