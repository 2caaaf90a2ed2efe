test fixture f {
  owns(x, Plot{"p"});
}
