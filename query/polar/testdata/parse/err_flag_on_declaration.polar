resource Doc {
  @internal roles = ["x"];
}
