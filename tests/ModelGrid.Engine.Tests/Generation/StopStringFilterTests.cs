using ModelGrid.Engine.Generation;

namespace ModelGrid.Engine.Tests.Generation;

public sealed class StopStringFilterTests
{
    [Fact]
    public void Text_before_a_stop_string_is_emitted_and_the_stop_string_never()
    {
        var filter = new StopStringFilter(["</answer>"]);
        string emitted = string.Concat(new[] { "The ans", "wer is 4</", "ans", "wer> and more" }.Select(filter.Push));
        Assert.True(filter.Stopped);
        Assert.Equal("The answer is 4", emitted + filter.Flush());
    }

    [Fact]
    public void A_possible_start_of_a_stop_string_is_held_until_it_cannot_match()
    {
        var filter = new StopStringFilter(["STOP"]);
        Assert.Equal("abc", filter.Push("abcST"));
        Assert.Equal("STx", filter.Push("x"));
        Assert.False(filter.Stopped);
    }

    [Fact]
    public void Held_text_is_released_at_the_end()
    {
        var filter = new StopStringFilter(["\n\n"]);
        Assert.Equal("line", filter.Push("line\n"));
        Assert.Equal("\n", filter.Flush());
    }

    [Fact]
    public void The_earliest_of_several_stop_strings_wins()
    {
        var filter = new StopStringFilter(["world", "lo w"]);
        Assert.Equal("hel", filter.Push("hello world"));
    }
}
