"""`tinyae gradcheck FILE.py:Class`: a student's own class, checked from the command line."""

import json
import textwrap

import pytest

from tinyae.cli import main

LAYERS = '''
import numpy as np
from tinyae.layers import Layer, Param


class MyDense(Layer):
    def __init__(self, d_in, d_out, seed=0, factor=1):
        rng = np.random.default_rng(seed)
        self.W = Param(rng.normal(size=(d_in, d_out)), "W")
        self.b = Param(rng.normal(size=(d_out,)), "b")
        self.factor = factor

    def params(self):
        yield self.W
        yield self.b

    def forward(self, x, training=False):
        self.x = x
        return x @ self.W.value + self.b.value

    def backward(self, dy):
        self.W.grad += self.factor * self.x.T @ dy
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


class MyKernel(Layer):
    """A 1x1 convolution: y[n, o] = sum_c W[o, c, 0, 0] x[n, c]; W (out, in, 1, 1)."""

    def __init__(self):
        self.W = Param(np.random.default_rng(0).normal(size=(3, 2, 1, 1)), "W")

    def params(self):
        yield self.W

    def forward(self, x, training=False):
        self.x = x
        return np.einsum("oc,nchw->nohw", self.W.value[:, :, 0, 0], x)

    def backward(self, dy):
        self.W.grad[:, :, 0, 0] += np.einsum("nohw,nchw->oc", dy, self.x)
        return np.einsum("oc,nohw->nchw", self.W.value[:, :, 0, 0], dy)


class Crashes(MyDense):
    def backward(self, dy):
        return dy @ self.W.value  # (N, out) @ (in, out): the shapes do not fit


class Unwritten(MyDense):
    def backward(self, dy):
        raise NotImplementedError("YOUR CODE HERE")


class MyMSE:
    def forward(self, p, t):
        self.d = p - t
        return np.mean(self.d ** 2)

    def backward(self):
        return 2 * self.d / self.d.shape[1]  # the bug: the 1/N of the batch mean is missing
'''


@pytest.fixture
def student(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(textwrap.dedent(LAYERS))
    return str(path)


def test_a_correct_class_passes(student, capsys):
    assert main(["gradcheck", f"{student}:MyDense", "--args", "4, 3"]) == 0
    out = capsys.readouterr().out
    assert "checked as a layer on input 4x4" in out and "PASSED" in out


def test_a_buggy_class_fails_with_its_diagnosis(student, capsys):
    assert main(["gradcheck", f"{student}:MyDense", "--args", "4, 3, factor=2", "--shape", "6,4"]) == 1
    out = capsys.readouterr().out
    assert "on input 6x4" in out and "W: your gradient is 2.00 x the true one" in out


def test_json_for_graders(student, capsys):
    assert main(["gradcheck", f"{student}:MyDense", "--args", "4, 3, factor=2", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False and data["class"] == "MyDense" and data["kind"] == "layer"
    assert [d["code"] for d in data["diagnoses"]][:1] == ["ratio"]
    w = next(t for t in data["tensors"] if t["name"] == "W")
    assert w["failed"] == w["checked"] == 12 and len(w["numeric_values"]) == 12


def test_a_loss_is_recognised_and_given_two_inputs(student, capsys):
    assert main(["gradcheck", f"{student}:MyMSE"]) == 1
    out = capsys.readouterr().out
    assert "checked as a loss on input 4x5 (2 inputs)" in out and "4 is the batch size N" in out


def test_a_kernel_gets_an_image_batch(student, capsys):
    assert main(["gradcheck", f"{student}:MyKernel"]) == 0
    assert "on input 2x2x6x6" in capsys.readouterr().out


def test_an_exception_is_a_failed_report_with_the_line(student, capsys):
    assert main(["gradcheck", f"{student}:Crashes", "--args", "4, 3"]) == 1
    out = capsys.readouterr().out
    assert "ValueError raised in backward at" in out and "my_layers.py:" in out
    assert "return dy @ self.W.value  # (N, out) @ (in, out)" in out


def test_an_unwritten_method_is_said_so(student, capsys):
    assert main(["gradcheck", f"{student}:Unwritten", "--args", "4, 3"]) == 1
    err = capsys.readouterr().err
    assert "not written yet" in err and "YOUR CODE HERE" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["{s}:Nope"], "has no class 'Nope'; its classes with a backward: MyDense, MyKernel, Crashes, Unwritten, MyMSE"),
    (["{s}"], "defines 5 classes with a backward"),
    (["{s}:MyDense"], "give its arguments with --args (its signature: MyDense(d_in, d_out, seed=0, factor=1))"),
    (["{s}:MyDense", "--args", "4, 3, __import__('os')"], "--args must be Python literals"),
    (["{s}:MyDense", "--args", "4, 3", "--shape", "4,x"], "--shape must be positive integers"),
    (["nowhere.py:MyDense"], "no file 'nowhere.py'"),
])
def test_nothing_checkable_exits_2_with_one_line(student, capsys, argv, message):
    assert main(["gradcheck", *[a.format(s=student) for a in argv]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_file_options_without_a_file_are_refused(capsys):
    assert main(["gradcheck", "--json"]) == 2
    assert "go with a FILE.py:Class" in capsys.readouterr().out
