using ModelGrid.Hub.Metadata;

namespace ModelGrid.Hub.Tests;

public enum HubStoreKind { Sqlite, Postgres }

/// <summary>Every metadata store: a test taking this runs once against each.</summary>
public sealed class AllStores : TheoryData<HubStoreKind>
{
    public AllStores()
    {
        Add(HubStoreKind.Sqlite);
        Add(HubStoreKind.Postgres);
    }
}

/// <summary>
/// A throw-away hub data directory and, for <see cref="HubStoreKind.Postgres"/>, an empty database on the test
/// cluster (<see cref="PostgresTestCluster"/>); both are removed on dispose.
/// </summary>
sealed class TestDatabase : IAsyncDisposable
{
    public HubStoreKind Kind { get; }
    public string DataDir { get; }
    public string? PostgresConnectionString { get; }

    TestDatabase(HubStoreKind kind, string dataDir, string? postgresConnectionString) =>
        (Kind, DataDir, PostgresConnectionString) = (kind, dataDir, postgresConnectionString);

    public static async Task<TestDatabase> CreateAsync(HubStoreKind kind)
    {
        var dataDir = Directory.CreateTempSubdirectory("modelgrid-hub-test-").FullName;
        var postgres = kind == HubStoreKind.Postgres ? await PostgresTestCluster.CreateDatabaseAsync("hub_test") : null;
        return new TestDatabase(kind, dataDir, postgres);
    }

    public HubOptions Options(long maxFileSize) =>
        new() { DataDir = DataDir, PostgresConnectionString = PostgresConnectionString, Url = "http://127.0.0.1:0", MaxFileSize = maxFileSize };

    /// <summary>A store over this database, initialized; the caller disposes it.</summary>
    public async Task<IHubStore> OpenStoreAsync(SearchPlan? plan = null)
    {
        IHubStore store = PostgresConnectionString is null
            ? new SqliteHubStore(Path.Combine(DataDir, "hub.db")) { Plan = plan ?? SearchPlan.Default }
            : new PostgresHubStore(PostgresConnectionString) { Plan = plan ?? SearchPlan.Default };
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    public async ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataDir, recursive: true);
        if (PostgresConnectionString is not null)
            await PostgresTestCluster.DropDatabaseAsync(PostgresConnectionString);
    }
}
