"""How long the decoder may spend on one frame (no image libraries here: the node's
configuration reads these defaults without loading OpenCV)."""

#: The interval at which the node is meant to decode frames (15 per second; picamera2 delivers
#: 30 and the node always takes the newest, so a slower decode skips frames, never lags).
FRAME_INTERVAL_S = 1 / 15
#: Share of a frame interval the retry ladder may spend on one frame.
RETRY_BUDGET_FRACTION = 0.75
DEFAULT_RETRY_BUDGET_S = round(RETRY_BUDGET_FRACTION * FRAME_INTERVAL_S, 4)
