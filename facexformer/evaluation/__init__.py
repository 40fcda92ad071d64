"""Running a trained FaceXFormer on benchmarks: the registered protocols, the papers' table, face verification."""
