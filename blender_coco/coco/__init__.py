"""The exporter: COCO from ID masks, color masks and frame records. Never imports bpy."""
