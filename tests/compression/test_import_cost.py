"""`import enb` loads none of the compression layer; its 1.x module names are one module each."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBE = """
import sys
import enb
heavy = [m for m in ("numpy", "PIL", "astropy", "enb.compression", "enb.isets")
         if m in sys.modules]
print("after import enb:", heavy)
import enb.icompression, enb.pgm, enb.png, enb.jpg, enb.fits, enb.compression
from enb import isets
import enb.compression.icompression as icompression
print(enb.icompression is icompression, enb.pgm is enb.compression.pgm,
      enb.png is enb.compression.png, enb.fits is enb.compression.fits,
      enb.jpg is enb.compression.jpg, isets is enb.isets)
print("astropy" in sys.modules, "PIL" in sys.modules)
"""


def test_import_enb_loads_no_compression_layer_and_aliases_are_the_same_modules():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO), timeout=120, check=True)
    lines = done.stdout.splitlines()
    assert lines[0] == "after import enb: []"
    assert lines[1] == "True True True True True True"
    assert lines[2] == "False False"  # FITS and PNG libraries load when a file is read
