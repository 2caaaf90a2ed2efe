resource Doc {
  "read" if not "banned";
}
