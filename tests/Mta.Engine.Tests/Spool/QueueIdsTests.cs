// Queue ids: short, unique, file-name safe.
using Mta.Engine.Spool;

namespace Mta.Engine.Tests.Spool;

public sealed class QueueIdsTests
{
    [Fact]
    public void Ids_are_unique_and_use_a_file_name_safe_alphabet()
    {
        var ids = Enumerable.Range(0, 100_000).Select(_ => QueueIds.Next()).ToArray();
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.All(ids, id =>
        {
            Assert.Equal(18, id.Length);
            Assert.Matches("^[0-9A-HJKMNP-TV-Z]+$", id);
        });
    }
}
