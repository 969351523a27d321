"""Random map: the final DAG is always A -> M* -> B, with M repeated n >= 0 times.

Task A decides n at run time; the grammar promises nothing else can happen.
The repetition is an ordinary pair of productions built by `repeat_parallel`:

    Ms(a, b)      ::= [default] a -> b | a -> M -> b, Ms_more(a, b)
    Ms_more(a, b) ::= [default] nothing | a -> M -> b, Ms_more(a, b)
"""

from grammarflow import define, repeat_parallel

grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
