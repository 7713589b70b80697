"""campuspass door node: camera → QR decoder → decision → outputs → local log → sync."""
