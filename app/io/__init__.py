"""Reading and writing images, segmentations and datasets. SimpleITK objects never leave this package."""
