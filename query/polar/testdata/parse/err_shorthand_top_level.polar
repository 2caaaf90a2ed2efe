"read" if "viewer";
