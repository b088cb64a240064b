using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Tests;

public class SqliteHubStoreTests
{
    [Fact]
    public async Task Branch_moves_only_from_the_expected_head_and_a_loser_writes_nothing()
    {
        var dir = Directory.CreateTempSubdirectory("modelgrid-store-test-").FullName;
        try
        {
            using var store = new SqliteHubStore(Path.Combine(dir, "hub.db"));
            await store.InitializeAsync(CancellationToken.None);
            var name = RepoName.Parse("alice/cas");
            var now = DateTimeOffset.UtcNow;
            var root = new CommitRecord(new string('a', 40), null, "initial", "", "alice", now);
            Assert.True(await store.TryCreateRepoAsync(name, false, "main", root, CancellationToken.None));
            var repo = (await store.FindRepoAsync(name, CancellationToken.None))!;
            var winner = new CommitRecord(new string('b', 40), root.Id, "winner", "", "alice", now);
            var loser = new CommitRecord(new string('c', 40), root.Id, "loser", "", "bob", now);
            FileEntry[] files = [new("w.bin", new string('d', 64), 1)];

            Assert.True(await store.TryCommitAsync(repo.Id, "main", root.Id, winner, files, null, CancellationToken.None));
            Assert.False(await store.TryCommitAsync(repo.Id, "main", root.Id, loser, files, null, CancellationToken.None));

            Assert.Equal(winner.Id, (await store.FindRepoAsync(name, CancellationToken.None))!.MainCommitId);
            Assert.Null(await store.FindCommitAsync(repo.Id, loser.Id, CancellationToken.None));
            Assert.Empty(await store.ListFilesAsync(repo.Id, loser.Id, CancellationToken.None));
            Assert.False(await store.TryCreateRepoAsync(name, false, "main", root, CancellationToken.None));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
