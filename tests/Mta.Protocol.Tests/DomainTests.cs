// The Domain value type: one normal form, equality without case or trailing dot, parse errors, subdomains.
using Mta.Abstractions;

namespace Mta.Protocol.Tests;

public class DomainTests
{
    [Theory]
    [InlineData("example.org", "example.org")]
    [InlineData("Example.ORG", "example.org")]
    [InlineData("example.org.", "example.org")]
    [InlineData("  Mail.Example.Org.  ", "mail.example.org")]
    [InlineData("sel._domainkey.example.org", "sel._domainkey.example.org")]
    [InlineData("localhost", "localhost")]
    [InlineData("Bücher.Example", "bücher.example")] // ASCII lowered, the U-label's letters kept as given
    public void Parse_gives_the_normal_form(string text, string name)
    {
        var domain = Domain.Parse(text);
        Assert.Equal(name, domain.Name);
        Assert.Equal(name, domain.ToString());
        Assert.False(domain.IsEmpty);
    }

    [Fact]
    public void An_already_normal_name_is_not_copied()
    {
        const string text = "example.org";
        Assert.Same(text, Domain.Parse(text).Name);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(".")]
    [InlineData("example..org")]
    [InlineData(".example.org")]
    [InlineData("example.org..")]
    [InlineData("exa mple.org")]
    [InlineData("user@example.org")]
    [InlineData("[192.0.2.1]")]
    [InlineData("[IPv6:::1]")]
    [InlineData("example\r\n.org")]
    [InlineData("a\u0000b.org")]
    public void Not_a_domain_name(string text)
    {
        Assert.False(Domain.TryParse(text, out var domain));
        Assert.True(domain.IsEmpty);
        var error = Assert.Throws<FormatException>(() => Domain.Parse(text));
        Assert.Contains("is not a domain name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Length_limits_of_RFC_1035()
    {
        Assert.True(Domain.TryParse(new string('a', 63) + ".org", out _));
        Assert.False(Domain.TryParse(new string('a', 64) + ".org", out _));
        var longest = string.Join('.', Enumerable.Repeat(new string('a', 62), 4)) + ".a"; // 4*63 + 1 = 253
        Assert.Equal(253, longest.Length);
        Assert.True(Domain.TryParse(longest, out _));
        Assert.True(Domain.TryParse(longest + ".", out _));
        Assert.False(Domain.TryParse(longest + "a", out _));
    }

    [Fact]
    public void Null_is_not_a_domain()
    {
        Assert.False(Domain.TryParse(null, out _));
        Assert.Throws<ArgumentNullException>(() => Domain.Parse(null!));
    }

    [Theory]
    [InlineData("example.org", "EXAMPLE.ORG")]
    [InlineData("example.org", "example.org.")]
    [InlineData("Example.Org.", "eXample.orG")]
    [InlineData("bücher.example", "BÜCHER.example")]
    public void Equal_without_case_and_trailing_dot(string a, string b)
    {
        var x = Domain.Parse(a);
        var y = Domain.Parse(b);
        Assert.Equal(x, y);
        Assert.True(x == y);
        Assert.False(x != y);
        Assert.True(x.Equals((object)y));
        Assert.Equal(x.GetHashCode(), y.GetHashCode());
        Assert.True(Domain.NameComparer.Equals(a, b));
        Assert.Equal(Domain.NameComparer.GetHashCode(a), Domain.NameComparer.GetHashCode(b));
    }

    [Theory]
    [InlineData("example.org", "example.com")]
    [InlineData("example.org", "mail.example.org")]
    [InlineData("xn--bcher-kva.example", "bücher.example")] // no IDNA mapping: the A-label is another name
    public void Different_domains(string a, string b)
    {
        Assert.NotEqual(Domain.Parse(a), Domain.Parse(b));
        Assert.True(Domain.Parse(a) != Domain.Parse(b));
        Assert.False(Domain.NameComparer.Equals(a, b));
    }

    [Fact]
    public void Usable_as_a_set_key()
    {
        var set = new HashSet<Domain> { Domain.Parse("Example.org."), Domain.Parse("example.ORG") };
        Assert.Single(set);
        Assert.Contains(Domain.Parse("example.org"), set);

        var names = new HashSet<string>(["Example.org."], Domain.NameComparer);
        Assert.Contains("example.org", names);
        Assert.DoesNotContain("example.com", names);
    }

    [Fact]
    public void The_default_value_is_the_empty_domain()
    {
        var empty = default(Domain);
        Assert.True(empty.IsEmpty);
        Assert.Equal("", empty.Name);
        Assert.Equal("", empty.ToString());
        Assert.NotEqual(Domain.Parse("example.org"), empty);
        Assert.False(Domain.Parse("example.org").IsSameOrSubdomainOf(empty));
        Assert.False(Domain.Parse("example.org").IsSubdomainOf(empty));
    }

    [Theory]
    [InlineData("mx.example.org", "example.org", true, true)]
    [InlineData("a.b.Example.org.", "EXAMPLE.org", true, true)]
    [InlineData("example.org", "example.org", false, true)]
    [InlineData("badexample.org", "example.org", false, false)]
    [InlineData("example.org", "mx.example.org", false, false)]
    [InlineData("org", "example.org", false, false)]
    public void Subdomains(string child, string parent, bool strictly, bool sameOrBelow)
    {
        Assert.Equal(strictly, Domain.Parse(child).IsSubdomainOf(Domain.Parse(parent)));
        Assert.Equal(sameOrBelow, Domain.Parse(child).IsSameOrSubdomainOf(Domain.Parse(parent)));
    }
}
