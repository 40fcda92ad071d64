"""AFLW-19 as HRNet distributes it: ``face_landmarks_aflw_test{,_frontal}.csv`` and the ``flickr`` images."""

from pathlib import Path

from tests.fake_data.faces import face_points, photo

HEADER = "image_name,scale,box_size,center_w,center_h," + ",".join(f"original_{i}_x,original_{i}_y" for i in range(19))
#: (image, box_size) of the test faces; the first two are also the frontal subset
FACES = (("flickr/0/a.jpg", 30.0), ("flickr/2/b.jpg", 26.0), ("flickr/3/c.jpg", 34.0))


def write(root: Path, faces=FACES, seed: int = 0) -> Path:
    """One 60x56 photo and one csv row per face (scale = box_size / 200, centre at the photo's middle)."""
    rows = []
    for i, (image, box_size) in enumerate(faces):
        photo(root / image, 60, 56, seed + i)
        points = face_points(19, (30, 28), box_size, seed + i)
        coords = [f"{v:.4f}" for v in points.flatten()]
        fields = [image, f"{box_size / 200:.4f}", f"{box_size}", "30.0", "28.0", *coords]
        rows.append(",".join(fields))
    (root / "face_landmarks_aflw_test.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (root / "face_landmarks_aflw_test_frontal.csv").write_text("\n".join([HEADER, *rows[:2]]) + "\n")
    return root
