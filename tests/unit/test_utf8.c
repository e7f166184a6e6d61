/*
 * test_utf8.c - unit tests for bot/utf8.c, the one strict UTF-8 decoder:
 * every code point round-trips, and overlongs, surrogates, values above
 * U+10FFFF, stray and truncated sequences are refused, reading no byte
 * past n.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "bot/utf8.c"

/* Reference encoder, written from RFC 3629's table: used to generate every
 * valid sequence and, with a forced length, every overlong one. */
static size_t enc(uint32_t cp, size_t len, unsigned char *o)
{
	static const unsigned char lead[5] = { 0, 0x00, 0xC0, 0xE0, 0xF0 };

	for (size_t i = len - 1; i > 0; i--) {
		o[i] = (unsigned char)(0x80 | (cp & 0x3F));
		cp >>= 6;
	}
	o[0] = (unsigned char)(lead[len] | cp);
	return len;
}

static size_t shortest(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Decodes from an exact-size heap copy, so that ASan sees any read past
 * n. */
static size_t dec(const unsigned char *s, size_t n, uint32_t *cp)
{
	char *b = malloc(n ? n : 1);
	size_t r;

	assert_non_null(b);
	memcpy(b, s, n);
	r = utf8_decode(b, n, cp);
	free(b);
	return r;
}

static void test_every_code_point(void **state)
{
	unsigned char s[4];
	uint32_t cp, got;
	size_t len;

	for (cp = 0; cp <= 0x10FFFF; cp++) {
		len = enc(cp, shortest(cp), s);
		got = 0xFFFFFFFF;
		if (cp >= 0xD800 && cp <= 0xDFFF) {
			if (utf8_decode((char *)s, len, &got) != 0)
				fail_msg("surrogate U+%04X accepted", cp);
			continue;
		}
		if (utf8_decode((char *)s, len, &got) != len || got != cp)
			fail_msg("U+%04X: length or value wrong (got U+%04X)",
				 cp, got);
		if (utf16_len((char *)s, len) != (cp > 0xFFFF ? 2u : 1u))
			fail_msg("U+%04X: utf16_len", cp);
	}
	/* cp may be NULL. */
	assert_int_equal(utf8_decode("\xE2\x82\xAC", 3, NULL), 3);
}

static void test_overlongs(void **state)
{
	static const uint32_t cps[] = { 0, '/', 0x7F, 0x80, 0x7FF, 0x800,
					0xFFFF };
	unsigned char s[4];
	uint32_t cp;

	/* Every code point below a length's minimum, encoded at that
	 * length, is refused: the whole of U+0000..U+FFFF in 4 bytes is
	 * too many to try, so boundaries only there. */
	for (cp = 0; cp < 0x800; cp++) {
		if (cp < 0x80)
			assert_int_equal(dec(s, enc(cp, 2, s), NULL), 0);
		assert_int_equal(dec(s, enc(cp, 3, s), NULL), 0);
	}
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++)
		assert_int_equal(dec(s, enc(cps[i], 4, s), NULL), 0);
	/* The classic ones. */
	assert_int_equal(utf8_decode("\xC0\x80", 2, NULL), 0);
	assert_int_equal(utf8_decode("\xC1\xBF", 2, NULL), 0);
	assert_int_equal(utf8_decode("\xE0\x80\xAF", 3, NULL), 0);
	assert_int_equal(utf8_decode("\xF0\x80\x80\xAF", 4, NULL), 0);
}

static void test_surrogates_and_range(void **state)
{
	unsigned char s[4];
	uint32_t cp;

	assert_int_equal(utf8_decode("\xED\xA0\x80", 3, NULL), 0); /* D800 */
	assert_int_equal(utf8_decode("\xED\xBF\xBF", 3, NULL), 0); /* DFFF */
	assert_int_equal(utf8_decode("\xED\x9F\xBF", 3, &cp), 3);
	assert_int_equal(cp, 0xD7FF);
	assert_int_equal(utf8_decode("\xEE\x80\x80", 3, &cp), 3);
	assert_int_equal(cp, 0xE000);
	/* A CESU-8 pair is two surrogates, not one character. */
	assert_int_equal(utf8_scan("\xED\xA0\xBD\xED\xB8\x80", 6), 0);
	/* Above U+10FFFF: F4 90.., and leads F5..FF. */
	assert_int_equal(utf8_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
	assert_int_equal(cp, 0x10FFFF);
	for (cp = 0x110000; cp < 0x140000; cp += 0x1001)
		assert_int_equal(dec(s, enc(cp, 4, s), NULL), 0);
	for (unsigned c = 0xF5; c <= 0xFF; c++) {
		s[0] = (unsigned char)c;
		s[1] = s[2] = s[3] = 0x80;
		assert_int_equal(dec(s, 4, NULL), 0);
	}
}

static void test_stray_and_truncated(void **state)
{
	static const uint32_t cps[] = { 0xE9, 0x20AC, 0x1F600, 0x10FFFF };
	unsigned char s[4];
	size_t len, k;

	/* A continuation byte cannot lead. */
	for (unsigned c = 0x80; c <= 0xBF; c++) {
		s[0] = (unsigned char)c;
		assert_int_equal(dec(s, 1, NULL), 0);
	}
	/* Every proper prefix of a multi-byte character is refused, both
	 * at the end of the input and followed by ASCII. */
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		len = enc(cps[i], shortest(cps[i]), s);
		for (k = 1; k < len; k++) {
			unsigned char t[5];

			assert_int_equal(dec(s, k, NULL), 0);
			memcpy(t, s, k);
			t[k] = 'a';
			assert_int_equal(dec(t, k + 1, NULL), 0);
		}
	}
	/* A non-continuation byte inside a sequence. */
	assert_int_equal(utf8_decode("\xE2\x28\xA1", 3, NULL), 0);
	assert_int_equal(utf8_decode("\xF0\x9F\x98\xC3", 4, NULL), 0);
}

/* Every two- and three-byte string against a decoder written the other
 * way round (decode freely, then judge the value). */
static void test_exhaustive_short(void **state)
{
	unsigned char s[3];

	for (unsigned a = 0xC0; a <= 0xFF; a++)
		for (unsigned b = 0; b <= 0xFF; b++) {
			int ok2 = a < 0xE0 && (b & 0xC0) == 0x80 &&
			    (((a & 0x1Fu) << 6) | (b & 0x3F)) >= 0x80;

			s[0] = (unsigned char)a, s[1] = (unsigned char)b;
			if (a < 0xE0 && (utf8_decode((char *)s, 2, NULL) == 2)
			    != ok2)
				fail_msg("%02X %02X", a, b);
			if (a < 0xE0 || a > 0xEF)
				continue;
			for (unsigned c = 0x80; c <= 0xBF; c++) {
				uint32_t v = ((a & 0x0Fu) << 12) |
				    ((b & 0x3Fu) << 6) | (c & 0x3F);
				int ok3 = (b & 0xC0) == 0x80 && v >= 0x800 &&
				    !(v >= 0xD800 && v <= 0xDFFF);

				s[2] = (unsigned char)c;
				if ((utf8_decode((char *)s, 3, NULL) == 3) !=
				    ok3)
					fail_msg("%02X %02X %02X", a, b, c);
			}
		}
}

static void test_scan_and_valid(void **state)
{
	assert_int_equal(utf8_scan("", 0), 0);
	assert_true(utf8_valid("", 0));
	/* The eight-byte ASCII skip, then the bad byte. */
	assert_int_equal(utf8_scan("abcdefghijklmnop\xFF", 17), 16);
	assert_int_equal(utf8_scan("abcdefgh\xC3\xA9xyz\x80", 14), 13);
	assert_int_equal(utf8_scan("\xC3\xA9\xC3", 3), 2);
	/* n is honoured: the bad byte lies past it. */
	assert_int_equal(utf8_scan("ab\xFF", 2), 2);
	assert_true(utf8_valid("ab\xFF", 2));
	assert_false(utf8_valid("ab\xFF", 3));
	/* NUL is a valid character; refusing it is the caller's call. */
	assert_true(utf8_valid("a\0b", 3));
	assert_int_equal(utf16_len("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
				   10), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_point),
		cmocka_unit_test(test_overlongs),
		cmocka_unit_test(test_surrogates_and_range),
		cmocka_unit_test(test_stray_and_truncated),
		cmocka_unit_test(test_exhaustive_short),
		cmocka_unit_test(test_scan_and_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
