"""Output-size arithmetic for convolution and pooling windows: the one place it lives.

A window of ``kernel`` entries slides over an input of ``size`` entries padded by ``padding`` on both
sides, moving ``stride`` entries at a time. It fits

    out = floor((size + 2*padding - kernel) / stride) + 1          (conv, max/avg pooling)

times. A transposed convolution runs the same picture backwards: an input of ``size`` entries is the
``out`` above, and the largest input it can come from is

    out = (size - 1)*stride - 2*padding + kernel + output_padding  (transposed conv)

where ``output_padding`` (0 <= output_padding < stride) picks one of the ``stride`` input sizes that
floor() sends to the same conv output size.

Every function here raises a ValueError that names the caller (``where``, e.g. the layer's repr) and
the shapes involved, instead of letting a negative size surface later as a cryptic reshape error.
"""

from __future__ import annotations


def as_pair(value, name: str, where: str, minimum: int = 1) -> tuple:
    """``value`` (an int or a pair of ints) as a pair ``(along H, along W)``; each must be >= ``minimum``."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{where}: {name} must be an int or a pair of ints (along H, along W), got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value!r}")
    return (int(pair[0]), int(pair[1]))


def pair_text(pair) -> str:
    """A pair for a layer's repr: "3" for (3, 3), "3x5" for (3, 5)."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def window_slices(i: int, j: int, stride, out_hw) -> tuple:
    """The (rows, cols) slices picking window entry (i, j) of every one of the OH x OW windows from a
    (padded) input: rows i, i + sh, ..., i + sh*(OH-1), and likewise for the columns (kernels/reference.py)."""
    (sh, sw), (OH, OW) = stride, out_hw
    return slice(i, i + sh * (OH - 1) + 1, sh), slice(j, j + sw * (OW - 1) + 1, sw)


def window_count(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2*padding - kernel) / stride) + 1, unchecked: for the kernels, whose arguments the
    dispatcher (tinyae.kernels) has already checked with ``conv_output_size``."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, strict: bool = False,
                     where: str = "conv_output_size", axis: str = "size") -> int:
    """Number of window positions along one axis: floor((size + 2*padding - kernel) / stride) + 1.

    strict -- refuse a configuration whose windows do not end exactly at the padded input's edge
              (the last ``(size + 2*padding - kernel) % stride`` entries would be silently ignored).
    axis   -- the axis' name for messages ("height", "width").
    """
    if size < 1:
        raise ValueError(f"{where}: input {axis} must be >= 1, got {size}")
    padded = size + 2 * padding
    if kernel > padded:
        raise ValueError(
            f"{where}: the kernel {axis} {kernel} is larger than the padded input {axis} "
            f"{padded} (= {size} + 2*{padding}); no window fits, the output would be empty"
        )
    out = window_count(size, kernel, stride, padding)
    left_over = (padded - kernel) % stride
    if strict and left_over:
        raise ValueError(
            f"{where}: (input {axis} {size} + 2*padding {padding} - kernel {kernel}) = {padded - kernel} is not a "
            f"multiple of the stride {stride}; the last {left_over} entries would be ignored (strict=True)"
        )
    return out


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                               where: str = "conv_transpose_output_size", axis: str = "size") -> int:
    """Output size of a transposed convolution: (size - 1)*stride - 2*padding + kernel + output_padding."""
    if size < 1:
        raise ValueError(f"{where}: input {axis} must be >= 1, got {size}")
    if not 0 <= output_padding < stride:
        raise ValueError(f"{where}: output_padding must satisfy 0 <= output_padding < stride ({stride}), "
                         f"got {output_padding} along the {axis}")
    out = (size - 1) * stride - 2 * padding + kernel + output_padding
    if out < 1:
        raise ValueError(
            f"{where}: input {axis} {size} gives an output {axis} of {out} "
            f"(= ({size} - 1)*{stride} - 2*{padding} + {kernel} + {output_padding}); the padding is too large"
        )
    return out


def conv_output_hw(input_shape, kernel, stride, padding, strict: bool = False, where: str = "conv_output_hw") -> tuple:
    """(OH, OW) of a window sliding over the last two axes of an (N, C, H, W) ``input_shape``.

    kernel, stride, padding -- pairs (along H, along W). Errors name ``where`` and the full input shape.
    """
    shape = tuple(input_shape)
    try:
        return tuple(conv_output_size(shape[2 + a], kernel[a], stride[a], padding[a], strict, where, axis)
                     for a, axis in enumerate(("height", "width")))
    except ValueError as err:
        raise ValueError(f"{err} [input shape {shape}, kernel {tuple(kernel)}, stride {tuple(stride)}, "
                         f"padding {tuple(padding)}]") from None


def conv_transpose_output_hw(input_shape, kernel, stride, padding, output_padding=(0, 0),
                             where: str = "conv_transpose_output_hw") -> tuple:
    """(OH, OW) of a transposed convolution of an (N, C, H, W) ``input_shape`` (pairs as in conv_output_hw)."""
    shape = tuple(input_shape)
    try:
        return tuple(conv_transpose_output_size(shape[2 + a], kernel[a], stride[a], padding[a], output_padding[a],
                                                where, axis)
                     for a, axis in enumerate(("height", "width")))
    except ValueError as err:
        raise ValueError(f"{err} [input shape {shape}, kernel {tuple(kernel)}, stride {tuple(stride)}, "
                         f"padding {tuple(padding)}, output_padding {tuple(output_padding)}]") from None
