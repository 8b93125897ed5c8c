"""The reviewer's web pages: inbox, claim, task detail and verdict. Thin: parse, call, render."""
