"""Media files: type detection and verification, safe names, generation data inside the files.

Everything here takes plain values (paths, bytes and the export-record dict) and
knows nothing of HTTP or the database, so each piece can be used and tested alone:

- `detect.detect_media` / `verify.verify_file`: what a file really is, and whether it is whole;
- `naming.render_relpath` / `naming.safe_join`: file names that can never leave the archive;
- `infotext`, `xmp`: the AUTOMATIC1111 text and the XMP tag packet built from a record;
- `embed.embed_metadata`: both written into PNG, JPEG, WebP (and GIF) files without
  touching a pixel; `sidecars.write_sidecars`: the same text and the record next to the file.
"""
