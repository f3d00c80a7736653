"""The name node's HTTP handlers, one module per resource.

``call`` parses a request, ``redirects`` answers the two-step operations (OPEN, CREATE, APPEND,
GETFILECHECKSUM) with a data node URL; ``status`` reads paths, ``tree`` changes directory entries,
``attributes`` changes what an inode carries, ``content`` changes what a file holds (its blocks),
``server`` describes the file system as a whole and ``internal`` serves the data nodes. The rules
themselves live outside this package (``namespace``, ``attributes``, ``blockmap``); a handler parses,
opens one transaction, applies a rule and answers.
"""
