resource Doc {
  "read" "viewer";
}
