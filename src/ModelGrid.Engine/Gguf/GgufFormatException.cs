namespace ModelGrid.Engine.Gguf;

/// <summary>A model file that does not follow its format; the message names the file and the problem.</summary>
public sealed class GgufFormatException(string message) : Exception(message);
