resource Doc {
  "read" if "viewer";
