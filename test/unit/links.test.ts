/**
 * Links in generated copy are compared with the brief's links by where they lead (WHATWG URL parsing:
 * scheme, host, port, path on a "/" boundary), wherever they stand in the html or the text.
 */
import { checkCopy } from '../../lib/llm/checks';
import { MAX_LINKS, linkPolicy, linkProblems, linkRefusal, linksIn } from '../../lib/llm/links';

const BRIEF = ['https://acme.example/sale'];
const inHtml = (html: string, allowed = BRIEF) => linkProblems(html, '', allowed);
const inText = (text: string, allowed = BRIEF) => linkProblems('', text, allowed);

describe('links the brief allows', () => {
	it.each([
		['the link itself', '<a href="https://acme.example/sale">Sale</a>'],
		['a query string and a fragment', '<a href="https://acme.example/sale?utm_source=email&amp;x=1#spring">Sale</a>'],
		['a page under the path', '<a href="https://acme.example/sale/spring/shoes">Shoes</a>'],
		['a trailing slash', '<a href="https://acme.example/sale/">Sale</a>'],
		['scheme and host in capitals', '<a href="HTTPS://ACME.Example/sale">Sale</a>'],
		['the default port spelled out', '<a href="https://acme.example:443/sale">Sale</a>'],
		['a "." segment', '<a href="https://acme.example/sale/./spring">Sale</a>'],
		['a percent-encoded unreserved letter', '<a href="https://acme.example/%73ale">Sale</a>'],
		['an entity-encoded scheme', '<a href="&#104;ttps://acme.example/sale">Sale</a>'],
		['an unquoted attribute', '<a href=https://acme.example/sale>Sale</a>'],
		['a mailto: link when the brief lists none', '<a href="mailto:hello@acme.example?subject=Hi">Write to us</a>'],
	])('%s', (_what, html) => {
		expect(inHtml(html)).toEqual([]);
	});

	it('bare links in the text part, with the sentence punctuation after them', () => {
		expect(inText('Shop the sale: https://acme.example/sale. Or see https://acme.example/sale/spring, today!')).toEqual([]);
		expect(inText('Visit (https://acme.example/sale) now')).toEqual([]);
	});

	it('a brief link to a whole site allows every page of it', () => {
		expect(inHtml('<a href="https://acme.example/anything/at/all?x=1">x</a>', ['https://acme.example/'])).toEqual([]);
		expect(inHtml('<a href="https://acme.example">x</a>', ['https://acme.example'])).toEqual([]);
	});

	it('internationalised domains compare in punycode', () => {
		expect(inHtml('<a href="https://xn--bcher-kva.example/sale">x</a>', ['https://bücher.example/sale'])).toEqual([]);
		expect(inHtml('<a href="https://BÜCHER.example/sale">x</a>', ['https://xn--bcher-kva.example/sale'])).toEqual([]);
	});
});

describe('links the brief does not allow are refused, with the link named', () => {
	it.each([
		['a ".." segment out of the path', 'https://acme.example/sale/../admin', /its path \/admin is not under \/sale/],
		['encoded ".." and "/" (%2F stays a character of one segment)', 'https://acme.example/sale%2F..%2Fadmin', /its path \/sale%2F\.\.%2Fadmin is not under \/sale/],
		['encoded dot segments', 'https://acme.example/sale/%2e%2E/admin', /its path \/admin is not under/],
		['the allowed host as a subdomain of another', 'https://acme.example.evil.com/sale', /it goes to acme\.example\.evil\.com/],
		['the allowed host as user info', 'https://acme.example@evil.com/sale', /it goes to evil\.com/],
		['user info in front of the allowed host', 'https://evil.com@acme.example/sale', /user name or password/],
		['a path that only starts like the allowed one', 'https://acme.example/salesforce', /its path \/salesforce is not under \/sale/],
		['http where the brief says https', 'http://acme.example/sale', /it uses http where the brief says https/],
		['another port', 'https://acme.example:8443/sale', /it goes to acme\.example:8443/],
		['a backslash that makes another host', 'https:\\\\evil.com\\sale', /it goes to evil\.com/],
		['a lookalike (Cyrillic) host', 'https://\u0430cme.example/sale', /it goes to xn--/],
		['a protocol-relative link', '//evil.com/sale', /not a complete http\(s\) URL/],
		['a relative link', '/admin', /not a complete http\(s\) URL/],
		['javascript:', 'javascript:alert(1)', /javascript: links are never allowed/],
		['javascript: in mixed case with a tab inside', 'JaVa\tScRiPt:alert(1)', /javascript: links are never allowed/],
		['data:', 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==', /data: links are never allowed/],
		['an unparsable URL', 'https://acme.example:99999/sale', /not a complete http\(s\) URL/],
		['an empty host', 'https:///', /not a complete/],
	])('%s: %s', (_what, link, why) => {
		const [problem, ...more] = inHtml(`<p><a href="${link.replace(/"/g, '&quot;')}">here</a></p>`);
		expect(more).toEqual([]);
		expect(problem).toContain(`link ${link.replace(/\t/g, ' ')} is not in the brief's links (https://acme.example/sale)`);
		expect(problem).toMatch(why);
	});

	it.each([
		['an unquoted href', '<a href=https://evil.example/x>x</a>', 'https://evil.example/x'],
		['a single-quoted href', "<a href='https://evil.example/x'>x</a>", 'https://evil.example/x'],
		['spaces around "=" and inside the value', '<a href = "  https://evil.example/x  ">x</a>', '  https://evil.example/x  '],
		['an upper-case attribute', '<A HREF="https://evil.example/x">x</A>', 'https://evil.example/x'],
		['a decimal entity-encoded scheme', '<a href="&#104;ttps://evil.example/x">x</a>', 'https://evil.example/x'],
		['a hex entity-encoded javascript:', '<a href="&#x6A;avascript&colon;alert(1)">x</a>', 'javascript:alert(1)'],
		['an entity-encoded tab inside javascript:', '<a href="java&#x09;script:alert(1)">x</a>', 'java\tscript:alert(1)'],
		['&amp; in the value', '<a href="https://evil.example/?a=1&amp;b=2">x</a>', 'https://evil.example/?a=1&b=2'],
		['an image src', '<img src="https://evil.example/pixel.gif">', 'https://evil.example/pixel.gif'],
		['a srcset', '<img srcset="https://acme.example/sale/a.png 1x, https://evil.example/b.png 2x">', 'https://evil.example/b.png'],
		['a form action', '<form action="https://evil.example/post"></form>', 'https://evil.example/post'],
		['an SVG xlink:href', '<svg><a xlink:href="https://evil.example/x">x</a></svg>', 'https://evil.example/x'],
		['a bare link in the html text', '<p>Go to https://evil.example/x today</p>', 'https://evil.example/x'],
		['a bare link split by inline tags', '<p>Go to ht<b></b>tps://evil.example/x</p>', 'https://evil.example/x'],
		['a bare link split by inline tags with attributes', '<p>Go to ht<b class="k" title="t">tp</b>s://evil.example/x</p>', 'https://evil.example/x'],
		['a bare entity-encoded link in the html text', '<p>Go to h&#116;tps://evil.example/x</p>', 'https://evil.example/x'],
		['a bare www. link in the html text', '<p>Go to www.evil.example/x</p>', 'www.evil.example/x'],
		['a link inside a style attribute', '<p style="background:url(https://evil.example/bg.png)">x</p>', 'https://evil.example/bg.png'],
		['a second href on the same tag', '<a href="https://acme.example/sale" href="https://evil.example/x">x</a>', 'https://evil.example/x'],
	])('%s', (_what, html, link) => {
		const problems = inHtml(html);
		expect(problems).toHaveLength(1);
		expect(problems[0]).toContain(`link ${link.replace(/\t/g, ' ')} is not in the brief's links`);
	});

	it.each([
		['a bare https link', 'See https://evil.example/x now', 'https://evil.example/x'],
		['a bare http link in capitals', 'See HTTP://EVIL.EXAMPLE/X.', 'HTTP://EVIL.EXAMPLE/X'],
		['a bare www. link', 'See www.evil.example/deal!', 'www.evil.example/deal'],
		['a bare www. link of the allowed host over http', 'See www.acme.example/sale', 'www.acme.example/sale'],
		['a link glued to an allowed one by "<"', 'https://acme.example/sale<https://evil.example/x>', 'https://evil.example/x'],
		['another scheme', 'Get it at ftp://evil.example/file', 'ftp://evil.example/file'],
	])('in the text part: %s', (_what, text, link) => {
		const problems = inText(text);
		expect(problems).toHaveLength(1);
		expect(problems[0]).toContain(`link ${link} is not in the brief's links`);
	});

	it('mailto: links are allowed only to the addresses the brief lists, when it lists any', () => {
		const allowed = ['https://acme.example/sale', 'mailto:hello@acme.example'];
		expect(inHtml('<a href="mailto:Hello@Acme.example?subject=Hi">x</a>', allowed)).toEqual([]);
		expect(inHtml('<a href="mailto:boss@evil.example">x</a>', allowed)[0]).toMatch(/link mailto:boss@evil\.example is not in the brief's links .*: it mails boss@evil\.example/);
		expect(inHtml('<a href="mailto:hello@acme.example?bcc=spy@evil.example">x</a>', allowed)[0]).toMatch(/it mails spy@evil\.example/);
		expect(inText('write to mailto:spy@evil.example', allowed)[0]).toMatch(/it mails spy@evil\.example/);
		// Without a mailto: link in the brief, any address is fine (the behaviour before URL parsing).
		expect(inText('write to mailto:spy@evil.example')).toEqual([]);
	});

	it('a brief without links refuses every http(s) link', () => {
		expect(inHtml('<a href="https://acme.example/sale">x</a>', [])[0]).toMatch(/link https:\/\/acme\.example\/sale is not in the brief's links \(none\): the brief lists no links/);
	});

	it('more links than any email needs are refused at once', () => {
		const html = Array.from({ length: MAX_LINKS + 5 }, (_v, i) => `<a href="https://acme.example/sale/${i}">${i}</a>`).join('');
		expect(inHtml(html)).toEqual([`the copy has more than ${MAX_LINKS} links; use only the brief's links (https://acme.example/sale)`]);
		expect(linksIn(html, '')).toHaveLength(MAX_LINKS + 5);
	});

	it('a problem names a huge link in a couple of hundred characters', () => {
		const [problem] = inText(`https://evil.example/${'x'.repeat(100_000)}`);
		expect(problem.length).toBeLessThan(600);
	});

	it('checkCopy reports refused links with the others problems, in the words the LLM is told', () => {
		const problems = checkCopy(
			{ subject: 'The sale', preheader: '', html: '<p>Our sale is on now for you</p><p><a href="https://acme.example/sale/../admin">Shop the sale</a></p>', text: 'Our sale is on now for you. Shop the sale: https://acme.example.evil.com/sale' },
			{ allowedTags: new Set(), allowedLinks: BRIEF, language: 'en', maxWords: 150 },
		);
		expect(problems).toEqual([
			"link https://acme.example/sale/../admin is not in the brief's links (https://acme.example/sale): its path /admin is not under /sale",
			"link https://acme.example.evil.com/sale is not in the brief's links (https://acme.example/sale): it goes to acme.example.evil.com",
		]);
	});

	it('linkRefusal on its own, for callers with one URL', () => {
		const policy = linkPolicy(BRIEF);
		expect(linkRefusal('https://acme.example/sale/x', policy)).toBeUndefined();
		expect(linkRefusal('https://acme.example/sales', policy)).toMatch(/not under \/sale/);
	});
});
