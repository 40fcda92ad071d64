import torch

from facexformer.benchmarking.hardware import Hardware, _cpuinfo, describe_hardware, matmul_peak


def test_cpuinfo_reads_the_model_name_and_speed_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(
        "processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n\n"
        "processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu\n"
    )
    name, flags = _cpuinfo(path)
    assert name == "Example CPU 9000"
    assert {"avx2", "avx512_bf16", "amx_bf16"} <= flags and "fma" not in flags


def test_hardware_line_names_processor_threads_and_flags():
    line = Hardware("cpu", "Example CPU", 2, ["avx2", "amx_bf16"], "AVX512").line()
    assert "Example CPU" in line and "2 threads" in line and "amx_bf16" in line and "AVX512" in line
    here = describe_hardware("cpu")
    assert here.threads == torch.get_num_threads() and here.capability == torch.backends.cpu.get_cpu_capability()


def test_matmul_peak_is_a_rate_in_gflops():
    peak = matmul_peak(torch.float32, sizes=(64,), repeats=2)
    assert 0.01 < peak < 1e6
