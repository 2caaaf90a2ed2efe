resource Doc;
actor User {}
