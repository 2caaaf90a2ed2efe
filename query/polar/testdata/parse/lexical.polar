# Lexical details: comments between tokens, identifiers, escapes, numbers.
actor # comment after a keyword
  Billing::Invoice # and after a type name
  { # and after the brace
  permissions # here
    = # and here
    [ # and inside lists
      "pay" # between elements
      , # after a comma
    ] # before the semicolon
    ; # after it
}

résumé_ok?(ünïcødé, Billing::Invoice{"i-1"}, 日本) if
  ünïcødé = "naïve" # comment in a body
  and 日本 matches Billing::Invoice # and another
  and émoji_🎉(ünïcødé);

escapes(x) if x = "tab\there" or x = "nl\nx" or x = "cr\rx" or x = "nul\0x" or x = "q\"x" or x = "bs\\x" or x = "other\qx";

numbers(x) if x = 007 or x = 0 or x = -0;
question?(x?) if x? = 1;#comment at end of line without space
spacing ( a , b ) if a=b and a!=b and a<=b and a>=b and a<b and a>b;
