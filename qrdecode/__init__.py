"""QR code reading from camera frames and photos, shared by the door node and the server.

An adapter package: zxing-cpp and pyzbar behind one :class:`~qrdecode.decoders.Decoder`
interface (:mod:`qrdecode.decoders`), and the retry ladder that rescues hard frames
(:mod:`qrdecode.ladder`). It imports only :mod:`shared`; the node (camera frames) and the
server (arrival photos, ``campuspass pass check --image``) both use it, so the server never
imports the node's code.
"""
