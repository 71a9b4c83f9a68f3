// strftime against CPython's `datetime.strftime` (C locale); the expected strings were printed by
// Python for the same local date-times.

import assert from "node:assert/strict";
import { test } from "node:test";
import { strftime } from "./strftime.js";

const FORMAT = "%d %b %Y|%-d|%B|%a %A|%H:%M:%S|%I %p|%j|%y|%m|%%";

test("formats like Python in the C locale", () => {
  assert.equal(strftime(new Date(2024, 6, 5, 9, 3, 7), FORMAT), "05 Jul 2024|5|July|Fri Friday|09:03:07|09 AM|187|24|07|%");
  assert.equal(strftime(new Date(2023, 11, 31, 23, 59, 0), FORMAT), "31 Dec 2023|31|December|Sun Sunday|23:59:00|11 PM|365|23|12|%");
  assert.equal(strftime(new Date(2024, 2, 1, 0, 5, 0), "%j|%I %p"), "061|12 AM");
});

test("the Llama 3.2 template's format", () => {
  assert.equal(strftime(new Date(2024, 6, 26), "%d %b %Y"), "26 Jul 2024");
});

test("leaves unknown directives as written", () => {
  assert.equal(strftime(new Date(2024, 0, 1), "%Q %Y"), "%Q 2024");
});
