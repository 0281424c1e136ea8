"""enb.misc: the small helpers enb 1.x scripts and plugins import."""
import argparse

from enb import misc


def test_names_and_classes():
    assert misc.split_camel_case("LosslessCompressionExperiment") == \
        "Lossless Compression Experiment"
    assert misc.split_camel_case("APNGCodec") == "APNG Codec"
    assert misc.class_to_fqn(argparse.ArgumentParser) == "argparse.ArgumentParser"

    class Base:
        def method(self):
            pass

    class Child(Base):
        pass

    class GrandChild(Child):
        pass
    assert misc.get_all_subclasses(Base) == {Child, GrandChild}
    assert misc.get_defining_class_name(Base.method) == "Base"


def test_circular_list_and_singleton():
    colours = misc.CircularList(["red", "green"])
    assert [colours[i] for i in range(5)] == ["red", "green", "red", "green", "red"]
    assert colours[-1] == "green" and colours[0:1] == ["red"]

    class One(metaclass=misc.Singleton):
        pass
    assert One() is One()


def test_remove_argv_options_leaves_the_script_its_own_arguments():
    argv = ["-vv", "input.png", "--cpu_limit", "2", "--out", "x", "--selected_columns", "a", "b",
            "--chunk_size=4", "-f", "last", "--ini", "a.ini"]
    assert misc.remove_argv_options(argv) == ["input.png", "--out", "x", "last"]


def test_remove_argparse_action():
    parser = argparse.ArgumentParser()
    action = parser.add_argument("--drop")
    parser.add_argument("--keep")
    misc.remove_argparse_action(parser, action)
    assert parser.parse_known_args(["--drop", "1", "--keep", "2"])[0].keep == "2"
    assert not hasattr(parser.parse_known_args(["--keep", "2"])[0], "drop")


def test_latex(tmp_path):
    assert misc.escape_latex("a_b 50% & #1") == r"a\_b 50\% \& \#1"
    source = tmp_path / "t.csv"
    source.write_text("name,ratio\nzip_9,2.5\n")
    misc.csv_to_latex_tabular(source, tmp_path / "t.tex")
    text = (tmp_path / "t.tex").read_text()
    assert r"\textbf{name} & \textbf{ratio} \\" in text and r"zip\_9 & 2.5 \\" in text
    assert text.startswith(r"\begin{tabular}{ll}") and text.rstrip().endswith(r"\end{tabular}")
