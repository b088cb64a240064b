namespace ModelGrid.Engine.Vision;

/// <summary>An image file that cannot be used: empty, of an unsupported format, truncated, corrupt, or too large to decode.</summary>
public sealed class ImageFormatException(string message) : Exception(message);
